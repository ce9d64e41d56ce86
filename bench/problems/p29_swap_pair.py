def swap_pair(pair):
    """Return a two-element tuple with its elements swapped.

    >>> swap_pair((1, 2))
    (2, 1)
    >>> swap_pair(('a', 'b'))
    ('b', 'a')
    >>> swap_pair((0, 0))
    (0, 0)
    >>> swap_pair((3, -3))
    (-3, 3)
    """
    ...
