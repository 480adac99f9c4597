"""Jupyter Tutor in the kernel: the ``%tutor`` / ``%%tutor`` magics.

Kernels started by a Jupyter server with the tutor load this extension by themselves
(``jupyter-config/ipython-config``); anywhere else, ``%load_ext jupyter_tutor_magics``.
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    from .magics import TutorMagics, keep_question_marks

    ipython.register_magics(TutorMagics(ipython))
    if keep_question_marks not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(keep_question_marks)
