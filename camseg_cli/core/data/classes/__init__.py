"""Classes: ClassMap (names, colours, void), label decoding, the Cityscapes label table, and remapping one
dataset's classes onto another's.
"""
