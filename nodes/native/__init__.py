"""RealisDance-DiT as a native ComfyUI model: the host's Wan DiT subclassed, registered with its model detection,
loaded by its own state-dict loader and sampled by its samplers.

These modules subclass host classes, so they import ``comfy`` at module level (``nodes/host.py`` stays the adapter
for the node API). Node modules import them lazily, inside ``execute``, so the test double never needs them.
"""
