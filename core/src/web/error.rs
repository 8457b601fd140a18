//! The web layer's error type. Handlers return `Result<_, WebError>` and use
//! `?`; internal errors are logged with their detail and the user sees a
//! generic branded page with the request id, never the error text.

use super::Ctx;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    #[error("csrf")]
    Csrf,
    #[error("too many requests")]
    RateLimited,
    #[error("login required")]
    NeedLogin(String),
    #[error("forbidden")]
    Forbidden,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::account::common::LinkError> for WebError {
    fn from(e: crate::account::common::LinkError) -> Self {
        WebError::Internal(e.into())
    }
}

impl From<sqlx::Error> for WebError {
    fn from(e: sqlx::Error) -> Self {
        WebError::Internal(e.into())
    }
}

impl From<crate::notify::NotifyError> for WebError {
    fn from(e: crate::notify::NotifyError) -> Self {
        WebError::Internal(e.into())
    }
}

/// Carried on an error response to the tenant middleware, which renders it.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: &'static str,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            WebError::NeedLogin(url) => return Redirect::to(url).into_response(),
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Страница не найдена",
                "Проверьте адрес или вернитесь на главную.",
            ),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "Форма устарела",
                "Страница была открыта слишком давно или в другом окне. Вернитесь назад, обновите страницу и отправьте форму ещё раз.",
            ),
            WebError::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "Слишком много попыток",
                "Подождите несколько минут и попробуйте снова.",
            ),
            WebError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Нет доступа",
                "У вас нет доступа к этой странице.",
            ),
            WebError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Что-то пошло не так",
                    "Мы уже знаем об ошибке. Попробуйте ещё раз через несколько минут; введённые данные не потеряны, если страница была сохранена.",
                )
            }
        };
        let mut resp = (status, message).into_response();
        resp.extensions_mut().insert(ErrorInfo {
            status,
            title,
            message,
        });
        resp
    }
}

/// The branded error page; falls back to plain text if even that fails.
pub fn page(ctx: &Ctx, info: ErrorInfo) -> Response {
    let extra = minijinja::context! { title => info.title, message => info.message, status => info.status.as_u16() };
    match ctx.render("portal/error.html", None, extra) {
        Ok(mut r) => {
            *r.status_mut() = info.status;
            r
        }
        Err(_) => (info.status, info.message).into_response(),
    }
}
