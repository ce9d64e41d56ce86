def add(a, b):
    """Return the sum of a and b.

    >>> add(1, 2)
    3
    >>> add(-4, 4)
    0
    >>> add(10, 5)
    15
    >>> add(0, 0)
    0
    """
    ...
