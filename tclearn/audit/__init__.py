"""An auditor's tools: trace a model's lineage, verify the whole history, from the chain and the
store alone."""
