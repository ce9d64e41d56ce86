def min_max(numbers):
    """Return a tuple (smallest, largest) of a non-empty list.

    >>> min_max([3, 1, 2])
    (1, 3)
    >>> min_max([5])
    (5, 5)
    >>> min_max([-1, 1])
    (-1, 1)
    >>> min_max([2, 2, 9])
    (2, 9)
    """
    ...
