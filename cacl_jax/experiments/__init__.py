"""Experiments: the config shape, running one or both phases on data prepared
once, and the ontology-aware vs vanilla comparison over seeds."""
