"""The rules for photos of people: the scene, the person's gender (face and outfit), each garment's family and
metadata, product shots."""
