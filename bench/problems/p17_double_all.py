def double_all(numbers):
    """Return a list with every number doubled.

    >>> double_all([1, 2, 3])
    [2, 4, 6]
    >>> double_all([])
    []
    >>> double_all([-1])
    [-2]
    >>> double_all([0, 5])
    [0, 10]
    """
    ...
