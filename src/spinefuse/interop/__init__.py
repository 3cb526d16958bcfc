"""Hospital integration: images from a PACS (DIMSE, DICOMweb), results back as DICOM SEG, SR and
Encapsulated PDF, and the case as a FHIR R4 Bundle.

The optional libraries come with the ``interop`` extra (``pip install 'spinefuse[interop]'``);
the modules that need them raise :class:`~spinefuse.errors.MissingDependencyError` without it.
"""
