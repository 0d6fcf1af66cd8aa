"""``comfy.clip_vision`` of the double: only ``Output``, the attribute bag a CLIP vision encode returns (items and
attributes are the same thing, as in the host)."""


class Output:
    def __getitem__(self, key):
        return getattr(self, key)

    def __setitem__(self, key, value):
        setattr(self, key, value)
