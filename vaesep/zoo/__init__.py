"""The bundled pretrained models (``bundled/``): finding and verifying them (``pretrained``)
and making one, with its model card, from a trained experiment dir (``bundle``)."""
