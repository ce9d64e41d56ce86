"""An example for `make demo`: the demo erases part of a line and asks for a completion."""

import os


def list_python_files(folder):
    """Return the paths of the .py files under folder, sorted."""
    result = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if name.endswith(".py"):
                result.append(os.path.join(root, name))
    return sorted(result)


def count_lines(path):
    """Count the lines of a text file."""
    with open(path, encoding="utf-8") as handle:
        return sum(1 for _ in handle)
