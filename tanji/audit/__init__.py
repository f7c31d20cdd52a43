"""The verifier's tools: keyless checks of an audit bundle. Built on the shared layers below the
roles (tanji.protocol, tanji.he, tanji.methodology); imports no role's code."""
