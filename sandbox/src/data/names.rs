//! The vocabulary records are drawn from: first and last names, companies, products, cities,
//! currencies, labels, stages and sources (with non-ASCII text on purpose), and the helpers that
//! turn a record's draws into names, addresses and references to other records.

use serde_json::{json, Value};

use super::{Dataset, Resource};

pub(super) const FIRST: [&str; 24] = [
    "Ana",
    "José",
    "Zoë",
    "Søren",
    "Łukasz",
    "Björn",
    "Amélie",
    "Chloé",
    "Mateo",
    "Aiyana",
    "Olúwaseun",
    "Nguyễn",
    "Siobhán",
    "Jürgen",
    "Ingrid",
    "Rafael",
    "Priya",
    "Kenji",
    "Мария",
    "Ahmed",
    "美咲",
    "Иван",
    "Élodie",
    "Ngozi",
];
pub(super) const LAST: [&str; 20] = [
    "García",
    "Müller",
    "O'Brien",
    "Kowalski",
    "Núñez",
    "Johansson",
    "Dubois",
    "田中",
    "Smith",
    "Øvergaard",
    "Şahin",
    "van der Berg",
    "Costa",
    "Popescu",
    "Иванова",
    "王",
    "Björklund",
    "Nakamura",
    "Đorđević",
    "Fernández",
];
const ORG: [&str; 15] = [
    "Acme",
    "Café Ñandú",
    "Müller & Söhne",
    "北京科技",
    "Nordlys",
    "Zürich Analytics",
    "Blue Harbor",
    "Fjäll Partners",
    "さくらロボティクス",
    "Łódź Logistics",
    "Ōtsuka Trading",
    "Crème Brûlée Co.",
    "Hélios",
    "Quantum Leap 🚀",
    "Green Leaf 🌿",
];
const ORG_SUFFIX: [&str; 8] = [
    "GmbH",
    "Ltd",
    "SA",
    "Inc.",
    "OÜ",
    "株式会社",
    "AB",
    "S.r.l.",
];
pub(super) const PRODUCT: [&str; 10] = [
    "Widget",
    "Café crème",
    "Licence Pro",
    "Support Plus",
    "クラウド Storage",
    "Premium Seat 💺",
    "Onboarding",
    "Gadget Ü",
    "Analytics Add-on",
    "Data Pack",
];
pub(super) const CITIES: [(&str, &str, &str, &str); 6] = [
    ("Tallinn", "Estonia", "Harju maakond", "10111"),
    ("München", "Germany", "Bayern", "80331"),
    ("São Paulo", "Brazil", "São Paulo", "01310-100"),
    ("東京", "Japan", "東京都", "100-0001"),
    ("New York", "United States", "New York", "10001"),
    ("Kraków", "Poland", "Małopolskie", "31-001"),
];
pub(super) const DEAL_CURRENCIES: [&str; 5] = ["EUR", "USD", "GBP", "JPY", "SEK"];
pub(super) const CURRENCIES: [(&str, &str, u64, &str); 20] = [
    ("EUR", "Euro", 2, "€"),
    ("USD", "US Dollar", 2, "$"),
    ("GBP", "Pound Sterling", 2, "£"),
    ("JPY", "Japanese Yen", 0, "¥"),
    ("CHF", "Swiss Franc", 2, "CHF"),
    ("SEK", "Swedish Krona", 2, "kr"),
    ("NOK", "Norwegian Krone", 2, "kr"),
    ("DKK", "Danish Krone", 2, "kr"),
    ("PLN", "Polish Złoty", 2, "zł"),
    ("CZK", "Czech Koruna", 2, "Kč"),
    ("HUF", "Hungarian Forint", 2, "Ft"),
    ("BRL", "Brazilian Real", 2, "R$"),
    ("INR", "Indian Rupee", 2, "₹"),
    ("CNY", "Chinese Yuan", 2, "¥"),
    ("AUD", "Australian Dollar", 2, "A$"),
    ("CAD", "Canadian Dollar", 2, "C$"),
    ("KRW", "South Korean Won", 0, "₩"),
    ("BHD", "Bahraini Dinar", 3, ".د.ب"),
    ("MXN", "Mexican Peso", 2, "$"),
    ("ZAR", "South African Rand", 2, "R"),
];
pub(super) const ACTIVITY_TYPES: [(&str, &str, &str); 8] = [
    ("Call", "call", "call"),
    ("Meeting", "meeting", "meeting"),
    ("Task", "task", "task"),
    ("Deadline", "deadline", "deadline"),
    ("Email", "email", "email"),
    ("Lunch", "lunch", "lunch"),
    ("Demo 🎥", "camera", "demo"),
    ("Site visit", "calendar", "site_visit"),
];
pub(super) const LEAD_LABELS: [(&str, &str); 4] = [
    ("Hot", "red"),
    ("Warm", "yellow"),
    ("Cold", "blue"),
    ("Follow-up ✅", "green"),
];
pub(super) const FILTER_TYPES: [&str; 7] = [
    "deals", "leads", "org", "people", "products", "activity", "projects",
];
pub(super) const STAGES: [(&str, u64); 5] = [
    ("Qualified", 10),
    ("Contact made", 25),
    ("Demo scheduled", 50),
    ("Proposal made", 75),
    ("Negotiations started", 90),
];
pub(super) const VISIBLE_TO: [u64; 4] = [1, 3, 5, 7];
/// `/v1/leadSources`; leads draw their `source_name` from the first four.
pub(super) const LEAD_SOURCES: [&str; 10] = [
    "Manually created",
    "API",
    "Web forms",
    "Prospector",
    "Leadbooster",
    "Live chat",
    "Import",
    "Website visitors",
    "Workflow automation",
    "Deal",
];

impl Dataset {
    pub(super) fn person_name(&self, i: u64) -> (String, String) {
        let first = FIRST[self.pick(Resource::Persons, i, 10, FIRST.len() as u64) as usize];
        let last = LAST[self.pick(Resource::Persons, i, 11, LAST.len() as u64) as usize];
        (first.to_string(), last.to_string())
    }

    pub(super) fn org_name(&self, i: u64) -> String {
        let r = Resource::Organizations;
        let base = ORG[self.pick(r, i, 10, ORG.len() as u64) as usize];
        let suffix = ORG_SUFFIX[self.pick(r, i, 11, ORG_SUFFIX.len() as u64) as usize];
        format!("{base} {suffix} #{}", i + 1)
    }

    /// A deal's title; `r` is `Deals` or `ArchivedDeals`.
    pub(super) fn deal_title(&self, r: Resource, i: u64) -> String {
        let product = PRODUCT[self.pick(r, i, 10, PRODUCT.len() as u64) as usize];
        format!(
            "{product} deal — {}",
            self.org_name(self.ref_index(r, i, 12))
        )
    }

    pub(super) fn product_name(&self, i: u64) -> String {
        let base = PRODUCT[self.pick(Resource::Products, i, 10, PRODUCT.len() as u64) as usize];
        format!("{base} {}", i + 1)
    }

    /// A lead's title; `r` is `Leads` or `ArchivedLeads`.
    pub(super) fn lead_title(&self, r: Resource, i: u64) -> String {
        format!("{} lead", self.org_name(self.ref_index(r, i, 12)))
    }

    /// An index into one of the main resources (which all have `size` records).
    pub(super) fn ref_index(&self, r: Resource, i: u64, salt: u64) -> u64 {
        self.pick(r, i, salt, self.size)
    }

    /// A reference id to a main resource, or null `pct_null` percent of the time.
    pub(super) fn ref_id(&self, r: Resource, i: u64, salt: u64, pct_null: u64) -> Value {
        if self.size == 0 || self.chance(r, i, salt + 1000, pct_null) {
            Value::Null
        } else {
            json!(self.ref_index(r, i, salt) + 1)
        }
    }

    pub(super) fn user_id(&self, r: Resource, i: u64, salt: u64) -> u64 {
        self.pick(r, i, salt, 12) + 1
    }

    pub(super) fn address(&self, r: Resource, i: u64) -> Value {
        let (city, country, area, postal) =
            CITIES[self.pick(r, i, 20, CITIES.len() as u64) as usize];
        let number = self.pick(r, i, 21, 200) + 1;
        let route = [
            "Main Street",
            "Rue de la Paix",
            "Kärntner Straße",
            "Ulica Długa",
        ][self.pick(r, i, 22, 4) as usize];
        json!({
            "value": format!("{route} {number}, {postal} {city}, {country}"),
            "country": country,
            "admin_area_level_1": area,
            "admin_area_level_2": null,
            "locality": city,
            "sublocality": null,
            "route": route,
            "street_number": number.to_string(),
            "subpremise": null,
            "postal_code": postal,
        })
    }

    pub(super) fn label_ids(&self, r: Resource, i: u64) -> Value {
        let n = self.pick(r, i, 30, 3);
        json!((0..n)
            .map(|k| k + 1 + self.pick(r, i, 31, 3) * 2)
            .collect::<Vec<_>>())
    }

    /// A time between `a` and `b`.
    pub(super) fn between(&self, r: Resource, i: u64, salt: u64, a: i64, b: i64) -> i64 {
        a + self.pick(r, i, salt, (b - a).max(0) as u64 + 1) as i64
    }
}
