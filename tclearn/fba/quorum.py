"""The 2/3 rule, as the contracts' `Quorum` library computes it (kept in step by the tests)."""


def threshold(n: int) -> int:
    """Accepts needed among `n` validators: ⌈2n/3⌉."""
    return (2 * n + 2) // 3


def unreachable(n: int, rejects: int) -> bool:
    """True once `rejects` leave fewer than ⌈2n/3⌉ possible accepts."""
    return rejects > n - threshold(n)
