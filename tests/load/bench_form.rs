//! The bench tenant's 20-field application as the load generators fill
//! it in (`tests/load/tenants/bench`).

pub const FIELDS: [(&str, &str); 20] = [
    ("city", "Казань"),
    ("object_address", "г. Казань, ул. Баумана, д. 1"),
    ("cadastral_number", "16:50:011105:57"),
    ("supply_type", "Теплоснабжение"),
    ("purpose", "Жилой дом"),
    ("floors", "9"),
    ("area_m2", "5400,5"),
    ("load_gcal_h", "0,85"),
    ("load_max_gcal_h", "1,1"),
    ("commissioning_date", "2027-06-30"),
    ("owner", "ООО «Строитель»"),
    ("owner_document", "Выписка из ЕГРН № 99/2026/123456"),
    ("designer", "ООО «Проект»"),
    ("contractor", "ООО «Монтаж»"),
    ("contact_name", "Иванов Иван Иванович"),
    ("phone", "+79001234567"),
    ("email", "load@example.ru"),
    ("agree_terms", "on"),
    (
        "description",
        "Многоквартирный жилой дом с нежилыми помещениями на первом этаже.",
    ),
    ("comment", "Прошу рассмотреть в приоритетном порядке."),
];
