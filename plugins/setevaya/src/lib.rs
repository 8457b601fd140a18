//! АО «Сетевая компания» (seed 003), electricity grid connection.
//!
//! - Applicant category by requested maximum power (Правила технологического
//!   присоединения, ПП РФ № 861): up to 15 kW, up to 150 kW, 150–670 kW,
//!   above 670 kW. The category goes to the documents and decides the base fee.
//! - Connection fee = base(category) + rate × line length + rate × metering
//!   points, all rates from `[plugin.settings]` in tenant.toml (roubles).
//! - Registration numbers `ТП-<year>-<000001>` from the tenant's sequence.

use tapline_sdk::{Application, Fee, FeeLine, Field, FieldError, Plugin, Transition, host};

pub struct Setevaya;

/// Categories by requested power, upper bounds in kW.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    UpTo15,
    UpTo150,
    UpTo670,
    Above670,
}

impl Category {
    pub fn of(power_kw: f64) -> Category {
        if power_kw <= 15.0 {
            Category::UpTo15
        } else if power_kw <= 150.0 {
            Category::UpTo150
        } else if power_kw < 670.0 {
            Category::UpTo670
        } else {
            Category::Above670
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Category::UpTo15 => "до 15 кВт включительно",
            Category::UpTo150 => "свыше 15 до 150 кВт включительно",
            Category::UpTo670 => "свыше 150 кВт и менее 670 кВт",
            Category::Above670 => "не менее 670 кВт",
        }
    }

    fn setting(self) -> &'static str {
        match self {
            Category::UpTo15 => "base_up_to_15",
            Category::UpTo150 => "base_up_to_150",
            Category::UpTo670 => "base_up_to_670",
            Category::Above670 => "base_above_670",
        }
    }
}

fn rub(key: &str) -> i64 {
    // Settings are roubles; fees are kopecks.
    (host::setting_f64(key).unwrap_or(0.0) * 100.0).round() as i64
}

impl Plugin for Setevaya {
    fn validate_application(a: &Application) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match a.get("power_kw").map(tapline_sdk::parse_number) {
            None => {}
            Some(None) => errors.push(FieldError::new(
                "power_kw",
                "Укажите мощность числом, например 15 или 7,5",
            )),
            Some(Some(p)) if p <= 0.0 => errors.push(FieldError::new(
                "power_kw",
                "Мощность должна быть больше нуля",
            )),
            Some(Some(p))
                if p > 15.0
                    && a.applicant.applicant_type == "individual"
                    && a.get("purpose") == Some("household") =>
            {
                errors.push(FieldError::new(
                    "power_kw",
                    "Для бытовых нужд физического лица — не более 15 кВт",
                ))
            }
            Some(Some(_)) => {}
        }
        if let Some(v) = a.get("line_length_m")
            && !matches!(tapline_sdk::parse_number(v), Some(n) if n >= 0.0)
        {
            errors.push(FieldError::new(
                "line_length_m",
                "Укажите длину линии в метрах, числом",
            ));
        }
        if let Some(v) = a.get("metering_points")
            && !matches!(v.trim().parse::<u32>(), Ok(n) if n >= 1)
        {
            errors.push(FieldError::new(
                "metering_points",
                "Укажите число точек учёта: целое, не меньше 1",
            ));
        }
        errors
    }

    fn check_transition(t: &Transition) -> Option<String> {
        // Above 670 kW the grid needs a load schedule before it can prepare
        // conditions: checked when the application leaves the draft, whatever
        // the tenant calls its first status.
        let power = t.application.number("power_kw").unwrap_or(0.0);
        if t.from == "draft"
            && Category::of(power) == Category::Above670
            && t.application.get("load_schedule").is_none()
        {
            return Some(
                "Для мощности от 670 кВт приложите график нагрузки (поле «График нагрузки»)."
                    .into(),
            );
        }
        None
    }

    fn registration_number(_a: &Application) -> Option<String> {
        let year = host::now().get(..4).unwrap_or("0000").to_string();
        Some(format!(
            "ТП-{year}-{:06}",
            host::next_sequence(&format!("tp-{year}"))
        ))
    }

    fn document_context(a: &Application, _template: &str) -> Vec<Field> {
        let power = a.number("power_kw").unwrap_or(0.0);
        vec![Field::new("category", Category::of(power).title())]
    }

    fn calculate_fee(a: &Application) -> Option<Fee> {
        let power = a.number("power_kw")?;
        let category = Category::of(power);
        let length = a.number("line_length_m").unwrap_or(0.0).max(0.0);
        let points = a.number("metering_points").unwrap_or(1.0).max(0.0).round();
        let per_m = host::setting_f64("rate_per_meter").unwrap_or(0.0);
        let per_point = host::setting_f64("rate_per_metering_point").unwrap_or(0.0);
        Some(Fee::from_lines(
            "RUB",
            vec![
                FeeLine::new(
                    format!("Базовая ставка, категория {}", category.title()),
                    rub(category.setting()),
                ),
                FeeLine::new(
                    format!("Строительство линии, {length} м"),
                    (per_m * length * 100.0).round() as i64,
                ),
                FeeLine::new(
                    format!("Точки учёта, {points} шт."),
                    (per_point * points * 100.0).round() as i64,
                ),
            ],
        ))
    }
}

tapline_sdk::register!(Setevaya);

#[cfg(test)]
mod tests {
    use super::Category;

    #[test]
    fn categories_follow_the_power_bounds() {
        assert_eq!(Category::of(15.0), Category::UpTo15);
        assert_eq!(Category::of(15.1), Category::UpTo150);
        assert_eq!(Category::of(150.0), Category::UpTo150);
        assert_eq!(Category::of(669.9), Category::UpTo670);
        assert_eq!(Category::of(670.0), Category::Above670);
    }
}
