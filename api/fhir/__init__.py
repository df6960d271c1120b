"""The FHIR R4 export of an incident (SPEC 10.4): pure mappings from what CrisisDesk records to
FHIR resources, one module per family (people, clinical, care), assembled in `bundle`."""

from api.fhir.bundle import incident_bundle
from api.fhir.common import FHIR_MEDIA_TYPE, FhirSource

__all__ = ["FHIR_MEDIA_TYPE", "FhirSource", "incident_bundle"]
