struct Image {
    id: i64,
    updated_at: chrono::DateTime<chrono::Utc>,
    path: String,
}
impl ::cached_etag::__private::UpdatedAt for Image {
    fn updated_at(&self) -> ::cached_etag::__private::SystemTime {
        ::cached_etag::__private::Timestamp::to_system_time(&self.updated_at)
    }
}
impl ::cached_etag::__private::Identified for Image {
    fn id(&self) -> impl ::cached_etag::__private::Display + '_ {
        &self.id
    }
}
