//! The front door: every API request passes here first, to be delayed,
//! refused or have its answer cut as the faults say, and to be counted.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CONTENT_LENGTH, RETRY_AFTER};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::debug;

use super::{ApiError, AppState};
use crate::api::types::code;
use crate::sandbox::faults::Decision;
use crate::sandbox::stats::{Fault, Outcome};

/// The request's number in arrival order, which seeds its per-item faults.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestNumber(pub u64);

pub(super) async fn front_door(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // A request runs to its end, counted, even when its client goes away
    // (a killed client): a write that commits is then always in the stats,
    // as it would be in a real service's logs.
    tokio::spawn(serve(app, request, next))
        .await
        .unwrap_or_else(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "the request's handler failed",
            )
            .into_response()
        })
}

async fn serve(app: AppState, mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", |m| m.as_str())
        .to_owned();
    let write = matches!(
        method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );

    let latency = app.faults.faults().latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let (response, fault) = match app.faults.decide(write) {
        Decision::Unavailable => {
            let response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::UNAVAILABLE,
                "the service is unavailable (injected fault)",
            );
            (response.into_response(), Some(Fault::Unavailable))
        }
        Decision::RateLimited { retry_after } => {
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                code::RATE_LIMITED,
                "too many requests (injected fault)",
            )
            .into_response();
            let value = HeaderValue::from_str(&retry_after.header_value())
                .expect("digits and an HTTP date are valid header text");
            response.headers_mut().insert(RETRY_AFTER, value);
            (response, Some(Fault::RateLimited))
        }
        Decision::Proceed {
            request: number,
            drop,
        } => {
            request.extensions_mut().insert(RequestNumber(number));
            let response = next.run(request).await;
            if drop {
                (response, Some(Fault::Dropped))
            } else {
                (response, None)
            }
        }
    };

    let status = response.status().as_u16();
    app.stats.record(Outcome {
        method: method.as_str(),
        route: &route,
        status,
        write,
        fault,
    });
    debug!(%method, %route, status, ?fault, "sandbox request");
    match fault {
        Some(Fault::Dropped) => sever(response),
        _ => response,
    }
}

/// Replaces the answer with one whose body fails at once: the server then
/// closes the connection before the head leaves its buffer, and the client
/// meets a transport error, as when a network drops an answer.
fn sever(response: Response) -> Response {
    let (mut parts, _) = response.into_parts();
    // A 204 or a known length could let the head go out without the body.
    parts.status = StatusCode::OK;
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::new(Severed))
}

struct Severed;

impl HttpBody for Severed {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "answer dropped on purpose",
        ))))
    }
}
