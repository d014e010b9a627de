"""The runnable nodes: thin processes over the engine (`tclearn.engine`), one per role.

`site` opens a participant of a coalition directory (its account, chain, store and test sets);
`member` trains and submits one step; `daemon` is the validator's (and the general's) loop.
"""
