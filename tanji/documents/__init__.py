"""Documents a person files or signs: declarations and data sheets (HTML/PDF), PACT exchange,
the verifier's statement."""
