"""Building routers, a stage beside ``finetune/`` on top of ``rag``: question families (real and synthetic), the
topic student's corpus and fit, the fit of the router's models, recipes and the ``train`` command
(``python -m router_training train --recipe default --out DIR``). Routing itself (``rag.router``) imports none of
it."""
