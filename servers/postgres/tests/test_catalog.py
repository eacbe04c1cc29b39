"""Schema inspection tools and the table-schema resources."""

from __future__ import annotations

import json

import pytest
from pg_helpers import call, server

from patchbay_common.testing.clients import ERAS, connect

pytestmark = pytest.mark.anyio


async def test_list_schemas_and_objects(pgdb) -> None:
    async with connect(server("--dsn", pgdb.superuser_dsn)) as client:
        error, text, _ = await call(client, "list_schemas")
        assert not error
        assert '"schema": "public"' in text and '"schema": "sales"' in text and "pg_catalog" not in text
        error, text, _ = await call(client, "list_schemas", include_system=True)
        assert "pg_catalog" in text
        error, text, _ = await call(client, "list_objects")
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        kinds = {(row["name"], row["kind"]) for row in lines}
        assert ("customers", "table") in kinds and ("order_totals", "view") in kinds
        assert ("paid_orders", "materialized_view") in kinds and ("orders_id_seq", "sequence") in kinds
        assert ("add_one(x integer)", "function") in kinds
        assert any(kind == "extension" and name.startswith("plpgsql") for name, kind in kinds)
        orders = next(row for row in lines if row["name"] == "orders")
        assert orders["row_estimate"] == 20000 and orders["size"].endswith(("KB", "MB"))
        customers = next(row for row in lines if row["name"] == "customers")
        assert customers["comment"] == "People who buy things"
        error, text, _ = await call(client, "list_objects", schema="sales", kinds=["table"])
        assert '"name": "orders"' in text and "customers" not in text
        error, text, _ = await call(client, "list_objects", kinds=["table", "view"], limit=2)
        assert "[truncated: showing objects 1-2; call again with offset=2]" in text
        error, text, _ = await call(client, "list_objects", name_like="order%", kinds=["view"])
        assert "order_totals" in text and "customers" not in text
        error, text, _ = await call(client, "list_objects", kinds=["nonsense"])
        assert error


async def test_describe_object_shows_everything_a_model_needs(pgdb) -> None:
    async with connect(server("--dsn", pgdb.reader_dsn)) as client:
        error, text, _ = await call(client, "describe_object", name="orders")
        assert not error, text
        assert "table public.orders (~20000 rows" in text
        assert "  id bigint not null default nextval('orders_id_seq'::regclass)" in text
        assert "orders_customer_id_fkey: FOREIGN KEY (customer_id) REFERENCES customers(id)" in text
        assert "CREATE INDEX orders_created_idx ON public.orders USING btree (created)" in text
        error, text, _ = await call(client, "describe_object", name="customers")
        assert "comment: People who buy things" in text and "email text  -- Contact address" in text
        assert "referenced by:" in text and "orders.orders_customer_id_fkey" in text
        error, text, _ = await call(client, "describe_object", name="sales.orders")
        assert "table sales.orders" in text and "region text" in text
        error, text, _ = await call(client, "describe_object", name="orders", schema="sales")
        assert "table sales.orders" in text
        error, text, _ = await call(client, "describe_object", name="order_totals")
        assert "view public.order_totals" in text and "definition:" in text and "sum(orders.total)" in text
        error, text, _ = await call(client, "describe_object", name="add_one")
        assert "(x integer) -> integer  language sql" in text
        error, text, _ = await call(client, "describe_object", name="nope")
        assert (
            error
            and "No table, view, sequence or function called 'nope'" in text
            and "search_objects" in text
        )


async def test_search_objects_at_three_levels_of_detail(pgdb) -> None:
    async with connect(server("--dsn", pgdb.reader_dsn)) as client:
        error, text, _ = await call(client, "search_objects", pattern="order")
        assert not error
        assert '{"kind": "table", "name": "public.orders"}' in text
        assert '{"kind": "table", "name": "sales.orders"}' in text
        assert '{"kind": "column", "name": "public.orders.customer_id"}' not in text  # no "order" in it
        error, text, _ = await call(client, "search_objects", pattern="email", kinds=["column"])
        assert '"name": "public.customers.email"' in text
        error, text, _ = await call(
            client, "search_objects", pattern="customers", detail="summary", kinds=["table"]
        )
        assert '"row_estimate": 3' in text and "People who buy things" in text
        error, text, _ = await call(
            client, "search_objects", pattern="customers", detail="full", kinds=["table"]
        )
        assert "columns:" in text and "created_at timestamp with time zone" in text
        error, text, _ = await call(client, "search_objects", pattern="zzz_nothing")
        assert not error and "No objects match" in text
        error, text, _ = await call(client, "search_objects", pattern="  ")
        assert error and "empty" in text


@pytest.mark.parametrize("era", ERAS)
async def test_table_schema_resources(pgdb, era) -> None:
    async with connect(server("--dsn", f"shop={pgdb.reader_dsn}"), era=era) as client:
        resources = (await client.list_resources()).resources
        uris = {str(r.uri) for r in resources}
        assert "postgres://shop/public/customers/schema" in uris
        assert "postgres://shop/sales/orders/schema" in uris
        assert all(r.mime_type == "application/json" for r in resources)
        result = await client.read_resource("postgres://shop/sales/orders/schema")
        data = json.loads(result.contents[0].text)
        assert data["schema"] == "sales" and [c["name"] for c in data["columns"]] == ["id", "region"]
        result = await client.read_resource("postgres://shop/public/orders/schema")
        assert len(json.loads(result.contents[0].text)["columns"]) == 6
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert templates == {
            "postgres://{database}/{schema}/{table}/schema",
            "postgres://{database}/listen/{channel}",
        }
