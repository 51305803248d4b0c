"""The wire schema's message classes, generated from ``Protos/pellet/v1/pellet.proto`` by
``tools/gen-protos`` (never edited by hand)."""
