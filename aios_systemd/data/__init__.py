"""The generated data artifact: its schema, the scoped writer, collectors and orchestration.

Nothing here is imported by the CLIs at start; pydantic loads only on the paths that
validate or write the artifact.
"""
