//! The two OTLP/HTTP encodings: the content type says which, and the answer uses the same.

use axum::http::{header, HeaderMap};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use prost::Message as _;

use crate::api::ApiError;

/// How a request is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpEncoding {
    /// `application/x-protobuf`: binary protobuf.
    Protobuf,
    /// `application/json`: OTLP's JSON mapping (hex ids, integer enums, lowerCamelCase).
    Json,
}

impl OtlpEncoding {
    /// The encoding named by `Content-Type`.
    ///
    /// # Errors
    ///
    /// 415 for a missing or other content type.
    pub fn of(headers: &HeaderMap) -> Result<Self, ApiError> {
        let text = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mime = text.split(';').next().unwrap_or_default().trim();
        match mime {
            "application/x-protobuf" | "application/protobuf" => Ok(OtlpEncoding::Protobuf),
            "application/json" => Ok(OtlpEncoding::Json),
            _ => Err(ApiError::UnsupportedFormat(format!(
                "unsupported content type {text:?}: OTLP/HTTP sends application/x-protobuf or application/json"
            ))),
        }
    }

    /// Decodes an `ExportLogsServiceRequest`.
    ///
    /// # Errors
    ///
    /// 400 naming what does not decode.
    pub fn decode(self, bytes: &[u8]) -> Result<ExportLogsServiceRequest, ApiError> {
        match self {
            OtlpEncoding::Protobuf => ExportLogsServiceRequest::decode(bytes)
                .map_err(|err| ApiError::BadRequest(format!("invalid OTLP protobuf: {err}"))),
            OtlpEncoding::Json => serde_json::from_slice(bytes)
                .map_err(|err| ApiError::BadRequest(format!("invalid OTLP JSON: {err}"))),
        }
    }

    /// The content type and body of an answer, with `partial` = (refused, message).
    pub fn encode_response(self, partial: Option<(usize, String)>) -> (&'static str, Vec<u8>) {
        match self {
            OtlpEncoding::Protobuf => {
                let response = ExportLogsServiceResponse {
                    partial_success: partial.map(|(count, message)| ExportLogsPartialSuccess {
                        rejected_log_records: count as i64,
                        error_message: message,
                    }),
                };
                ("application/x-protobuf", response.encode_to_vec())
            }
            OtlpEncoding::Json => {
                let response = super::OtlpResponse {
                    partial_success: partial.map(|(count, message)| super::OtlpPartialSuccess {
                        rejected_log_records: count.to_string(),
                        error_message: message,
                    }),
                };
                let bytes = serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec());
                ("application/json", bytes)
            }
        }
    }
}
