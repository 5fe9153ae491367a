"""hotline-kb's application: the runtime (snapshot, loading, following),
request logic (``service``), HTTP pieces (``http``), the batch runner
(``batch``) and the ``hotline`` CLI (``cli``). It sits on ``foundation``,
``index``, ``kb`` and ``classifier``, none of which imports it."""
__version__ = "0.1.0"
