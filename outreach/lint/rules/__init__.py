"""The lint rules, one module each: ``RULE = Rule(...)`` with its code, name, severity, doc, pass/fail
cases and checks (see :mod:`outreach.lint.rule`). :mod:`outreach.lint.registry` finds every module here;
adding a rule is adding a file.
"""
