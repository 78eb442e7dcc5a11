"""The planner's allocation the slow way, for its tests (CPython and the VM)."""


def brute_force(prices, caps, need):
    """The cheapest way to place exactly `need` Wh (the plan never buys more, not even
    at a negative price), trying every integer split."""
    best = None
    n = len(caps)
    idx = [0] * n
    while True:
        if sum(idx) == need:
            c = sum(prices[i] * idx[i] for i in range(n))
            best = c if best is None or c < best else best
        k = 0
        while k < n and idx[k] == caps[k]:
            idx[k] = 0
            k += 1
        if k == n:
            return best
        idx[k] += 1
