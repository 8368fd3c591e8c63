//! A typed client for Microsoft Graph's SharePoint cross-tenant identity-mapping API.
//!
//! Status: a skeleton. The client (token providers, typed calls, the delta PATCH chunked to 50 items,
//! retries on throttling, progress) is the subject of the client issue. It depends on the model and the
//! delta engine, never on the server.
