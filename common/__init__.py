"""Foundation shared by every stage: typed run config, component registries, CLI helpers, paths.

Every stage (knowledge_base → retrievers → rag → eval, finetune beside rag) may import from here;
this package imports from no stage.
"""
