"""What instructors decide and the gateway enforces: course settings and help policies.

A course folder holds notebooks and a ``tutor.yaml``; notebooks and cells refine it under a
``tutor`` metadata key.  ``config`` reads and checks both (the same code serves
``jupyter-tutor course validate`` and publishing), ``store`` keeps a published snapshot in
PostgreSQL so the gateway never reads policy from a student's request, ``resolve`` turns
a student's position into the policy in force there, ``ladder`` remembers how far the
hints for one exercise have gone, and ``guardrails`` is what the gateway calls.
"""
