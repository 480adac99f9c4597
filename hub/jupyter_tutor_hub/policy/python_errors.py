"""Plain-words explanations of the Python errors beginners meet most.

Policy uses them to recognise "the same error again" in a question; the offline responder
explains them when no model is connected.
"""

from __future__ import annotations

import re

#: Plain-words explanations of the errors beginners meet most.
COMMON_ERRORS = {
    "NameError": "Python does not know this name. Check its spelling, and that the cell "
    "defining it has been run (after a kernel restart, run the cells above again).",
    "TypeError": "An operation got a value of the wrong type, e.g. adding a number to a "
    "string, or calling a function with the wrong number of arguments. Print the types "
    "with `type(x)` to see which value is not what you expect.",
    "ValueError": "The type is right but the value is not acceptable, e.g. `int('abc')`. "
    "Look at the value passed in the line named by the traceback.",
    "IndexError": "You asked for a position that the list (or string) does not have. "
    "Remember that indexes start at 0 and the last one is `len(x) - 1`.",
    "KeyError": "The dictionary has no such key. Print `d.keys()` or use `d.get(key)`.",
    "AttributeError": "The object has no attribute or method of that name. Check the "
    "spelling and the object's type; `dir(obj)` lists what it has.",
    "ZeroDivisionError": "A division by zero. Check the value of the divisor before dividing.",
    "SyntaxError": "Python could not read the code: look for a missing colon, bracket or "
    "quote on the line shown (or the one just before it).",
    "IndentationError": "The indentation does not match the code's structure: the body of "
    "`if`, `for`, `def`… must be indented consistently (4 spaces).",
    "ModuleNotFoundError": "The module is not installed in this environment or its name is "
    "misspelled. Check the name; ask your instructor before installing packages.",
    "ImportError": "Python found the module but not the name you import from it. Check the "
    "spelling and the module's documentation.",
    "FileNotFoundError": "No file at that path. Paths are relative to the notebook's folder; "
    "check the name and use `os.listdir()` to see what is there.",
    "RecursionError": "A function keeps calling itself without reaching a base case. Check "
    "the condition that should stop the recursion.",
    "UnboundLocalError": "A variable is used inside a function before it gets a value there; "
    "assigning to a name anywhere in a function makes it local to that function.",
    "StopIteration": "An iterator was asked for a value after its end; `for` loops handle "
    "this for you, `next()` does not.",
}

_ERROR_NAME = re.compile(r"\b([A-Z][A-Za-z]*(?:Error|Exception|Iteration))\b")


def find_error(text: str) -> str | None:
    """The first known exception name mentioned in ``text``."""
    for match in _ERROR_NAME.finditer(text):
        if match.group(1) in COMMON_ERRORS:
            return match.group(1)
    return None
