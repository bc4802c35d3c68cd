"""What ships inside the package: the bundled pretrained models (``bundled/``), finding and
verifying them (``pretrained``) and making one, with its model card, from a trained
experiment dir (``bundle``); and the shipped configs (``vaesep/configs/``) by name
(``configs``)."""
