# Runtime of MMAction2 configs: mmaction scope, its visualizer, and mmspike's action adapter
# (action heads registered in mmaction's registry).
_base_ = ['default_runtime.py']
default_scope = 'mmaction'
custom_imports = dict(imports=['mmspike', 'mmspike.action'], allow_failed_imports=False)
visualizer = dict(type='ActionVisualizer', vis_backends=[dict(type='LocalVisBackend')])
