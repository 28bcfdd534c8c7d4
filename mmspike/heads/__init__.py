"""Task heads.  Each subclasses its codebase's own base head, so each task's heads import that
codebase and live in a sub-package named after the task:

* ``mmspike.heads.action`` (MMAction2 ``BaseHead``): :class:`SpikingClsHead`, :class:`SVFormerHead`.

They are registered in their codebase's ``MODELS`` registry when the task adapter is imported
(``custom_imports=dict(imports=['mmspike.action'])``; the configs' runtime bases do this).
``import mmspike`` alone imports no task codebase, hence none of these heads.
"""
