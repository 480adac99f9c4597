"""Course material: ingest course folders, embed them, and search them (hybrid retrieval).

``ingest`` turns a folder of notebooks, Markdown and Python files into chunks stored in
PostgreSQL (with embeddings and full-text vectors); ``search`` finds the passages that
answer a student's question.  Cells that hold graded or hidden material are stored as
``protected``: student-facing search never returns them; the gateway's output guard reads
them through ``search.aprotected_passages``.
"""
