from rest_framework.pagination import CursorPagination, PageNumberPagination


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class CursorPaginationById(CursorPagination):
    """For big tables (subscribers): next/previous cursors instead of page numbers and a total.

    A page costs the same at any depth (WHERE id < cursor ORDER BY id DESC LIMIT n), where
    COUNT(*) and OFFSET over 100,000 filtered rows took a quarter of a second per request.
    """

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
