"""TCLearn: trusted coalitions for blockchained distributed learning.

The path of data reads as the protocol does: train → store → propose → validate → vote →
finalize → audit. `tclearn.chain` holds the on-chain half (contracts, backends, accounts).
"""

__version__ = "0.1.0"
