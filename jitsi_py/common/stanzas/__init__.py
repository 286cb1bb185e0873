"""Codecs of the XML namespaces two services speak (Jingle, Colibri2): elements in and out, no behaviour."""
