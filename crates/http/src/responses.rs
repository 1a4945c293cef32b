//! Success responses that carry headers (`Location`, `X-Total-Count`, `Link`) and still document their body.

use actix_web::body::BoxBody;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, Responder};
use paperclip::actix::{CreatedJson, OperationModifier};
use paperclip::v2::models::{DefaultOperationRaw, DefaultSchemaRaw};
use paperclip::v2::schema::Apiv2Schema as ApiSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// 201 with the new resource and its `Location`.
pub struct Created<T> {
    pub body: T,
    pub location: String,
}

impl<T: Serialize> Responder for Created<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::Created().insert_header((header::LOCATION, self.location)).json(self.body)
    }
}

impl<T: ApiSchema> ApiSchema for Created<T> {
    fn name() -> Option<String> {
        T::name()
    }

    fn raw_schema() -> DefaultSchemaRaw {
        T::raw_schema()
    }
}

impl<T: ApiSchema + Serialize> OperationModifier for Created<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        CreatedJson::<T>::update_response(op);
    }

    fn update_definitions(map: &mut BTreeMap<String, DefaultSchemaRaw>) {
        CreatedJson::<T>::update_definitions(map);
    }
}

/// 200 with one page of a listing, `X-Total-Count`, and `Link` when there is anything to link to.
pub struct Listed<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub link: Option<String>,
}

impl<T: Serialize> Responder for Listed<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        let mut response = HttpResponse::Ok();
        response.insert_header(("X-Total-Count", self.total.to_string()));
        if let Some(link) = self.link {
            response.insert_header((header::LINK, link));
        }
        response.json(self.items)
    }
}

impl<T: ApiSchema> ApiSchema for Listed<T> {
    fn name() -> Option<String> {
        Vec::<T>::name()
    }

    fn raw_schema() -> DefaultSchemaRaw {
        Vec::<T>::raw_schema()
    }
}

impl<T: ApiSchema> OperationModifier for Listed<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        web::Json::<Vec<T>>::update_response(op);
    }

    fn update_definitions(map: &mut BTreeMap<String, DefaultSchemaRaw>) {
        web::Json::<Vec<T>>::update_definitions(map);
    }
}

/// 200 with a body clients and proxies may cache for `max_age` (`Cache-Control: public, max-age=…`).
pub struct Cached<T> {
    pub body: T,
    pub max_age: std::time::Duration,
}

impl<T: Serialize> Responder for Cached<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        let cache_control = format!("public, max-age={}", self.max_age.as_secs());
        HttpResponse::Ok().insert_header((header::CACHE_CONTROL, cache_control)).json(self.body)
    }
}

impl<T: ApiSchema> ApiSchema for Cached<T> {
    fn name() -> Option<String> {
        T::name()
    }

    fn raw_schema() -> DefaultSchemaRaw {
        T::raw_schema()
    }
}

impl<T: ApiSchema> OperationModifier for Cached<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        web::Json::<T>::update_response(op);
    }

    fn update_definitions(map: &mut BTreeMap<String, DefaultSchemaRaw>) {
        web::Json::<T>::update_definitions(map);
    }
}
