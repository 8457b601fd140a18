//! Production calendars (Russia, Kazakhstan) and working-day arithmetic.
//!
//! The calendars are data (`core/calendars/*.toml`), compiled in so that a
//! deployment needs no extra files; a year the data does not cover falls
//! back to the Labour Code's rule of moving weekend holidays.

use crate::tenant::config::CalendarId;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;
use time::{Date, Duration, Month, Weekday};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    holidays: Vec<String>,
    no_transfer: Vec<String>,
    #[serde(default)]
    year: BTreeMap<String, YearFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    off: Vec<String>,
    work: Vec<String>,
}

/// One country's working days.
#[derive(Debug)]
pub struct Calendar {
    /// (month, day) of the yearly holidays.
    holidays: Vec<(u8, u8)>,
    no_transfer: HashSet<(u8, u8)>,
    /// Years the data covers: their non-working weekdays and working weekend days.
    years: BTreeMap<i32, (HashSet<Date>, HashSet<Date>)>,
}

fn month_day(s: &str) -> Option<(u8, u8)> {
    let (m, d) = s.split_once('-')?;
    let (m, d): (u8, u8) = (m.parse().ok()?, d.parse().ok()?);
    Date::from_calendar_date(2024, Month::try_from(m).ok()?, d).ok()?;
    Some((m, d))
}

pub fn parse_date(s: &str) -> Option<Date> {
    let mut it = s.splitn(3, '-');
    let y: i32 = it.next()?.parse().ok()?;
    let m: u8 = it.next()?.parse().ok()?;
    let d: u8 = it.next()?.get(..2)?.parse().ok()?;
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

fn is_weekend(d: Date) -> bool {
    matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

impl Calendar {
    fn parse(src: &str) -> Result<Calendar, String> {
        let f: CalendarFile = toml::from_str(src).map_err(|e| e.to_string())?;
        let md = |v: &[String]| -> Result<Vec<(u8, u8)>, String> {
            v.iter()
                .map(|s| month_day(s).ok_or_else(|| format!("bad month-day `{s}`")))
                .collect()
        };
        let dates = |v: &[String]| -> Result<HashSet<Date>, String> {
            v.iter()
                .map(|s| parse_date(s).ok_or_else(|| format!("bad date `{s}`")))
                .collect()
        };
        let mut years = BTreeMap::new();
        for (y, data) in &f.year {
            let y: i32 = y.parse().map_err(|_| format!("bad year `{y}`"))?;
            let (off, work) = (dates(&data.off)?, dates(&data.work)?);
            if let Some(d) = off.iter().chain(&work).find(|d| d.year() != y) {
                return Err(format!("{d} is listed under year {y}"));
            }
            if let Some(d) = off.iter().find(|d| is_weekend(**d)) {
                return Err(format!("{d} is a weekend day listed as off"));
            }
            if let Some(d) = work.iter().find(|d| !is_weekend(**d)) {
                return Err(format!("{d} is a weekday listed as a working weekend day"));
            }
            years.insert(y, (off, work));
        }
        Ok(Calendar {
            holidays: md(&f.holidays)?,
            no_transfer: md(&f.no_transfer)?.into_iter().collect(),
            years,
        })
    }

    /// The compiled-in calendar of a country.
    pub fn of(id: CalendarId) -> &'static Calendar {
        static RU: OnceLock<Calendar> = OnceLock::new();
        static KZ: OnceLock<Calendar> = OnceLock::new();
        let (cell, src) = match id {
            CalendarId::Ru => (&RU, include_str!("../../calendars/ru.toml")),
            CalendarId::Kz => (&KZ, include_str!("../../calendars/kz.toml")),
        };
        // The files are compiled in and tested; a parse failure is a build defect.
        cell.get_or_init(|| Calendar::parse(src).expect("compiled-in production calendar"))
    }

    /// Non-working weekdays of a year the data does not cover: the yearly
    /// holidays, and for each one on a weekend the next free weekday.
    fn rule_off(&self, year: i32) -> HashSet<Date> {
        let mut days: Vec<(Date, bool)> = self
            .holidays
            .iter()
            .filter_map(|&(m, d)| {
                let date = Date::from_calendar_date(year, Month::try_from(m).ok()?, d).ok()?;
                Some((date, !self.no_transfer.contains(&(m, d))))
            })
            .collect();
        days.sort();
        let holiday_set: HashSet<Date> = days.iter().map(|(d, _)| *d).collect();
        let mut off: HashSet<Date> = holiday_set
            .iter()
            .copied()
            .filter(|d| !is_weekend(*d))
            .collect();
        for (d, moves) in days {
            if moves && is_weekend(d) {
                let mut next = d + Duration::days(1);
                while is_weekend(next) || holiday_set.contains(&next) || off.contains(&next) {
                    next += Duration::days(1);
                }
                off.insert(next);
            }
        }
        off
    }

    pub fn is_working_day(&self, d: Date) -> bool {
        match self.years.get(&d.year()) {
            Some((off, work)) => {
                if is_weekend(d) {
                    work.contains(&d)
                } else {
                    !off.contains(&d)
                }
            }
            None => !is_weekend(d) && !self.rule_off(d.year()).contains(&d),
        }
    }

    /// The date `n` working days after `from` (the day itself not counted).
    pub fn add_working_days(&self, from: Date, n: u32) -> Date {
        let mut d = from;
        let mut left = n;
        while left > 0 {
            d += Duration::days(1);
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// Working days after `from` up to and including `to`; 0 when `to` is not later.
    pub fn working_days_between(&self, from: Date, to: Date) -> i64 {
        let mut n = 0;
        let mut d = from;
        while d < to {
            d += Duration::days(1);
            if self.is_working_day(d) {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        parse_date(s).unwrap()
    }

    fn working_days_in(cal: &Calendar, year: i32) -> usize {
        let mut n = 0;
        let mut day = Date::from_calendar_date(year, Month::January, 1).unwrap();
        while day.year() == year {
            n += usize::from(cal.is_working_day(day));
            day += Duration::days(1);
        }
        n
    }

    #[test]
    fn russian_years_have_their_published_number_of_working_days() {
        let ru = Calendar::of(CalendarId::Ru);
        assert_eq!(working_days_in(ru, 2025), 247);
        assert_eq!(working_days_in(ru, 2026), 247);
    }

    #[test]
    fn transfers_and_working_saturdays_are_respected() {
        let ru = Calendar::of(CalendarId::Ru);
        assert!(ru.is_working_day(d("2025-11-01")), "a working Saturday");
        assert!(
            !ru.is_working_day(d("2025-11-03")),
            "the day it was moved to"
        );
        assert!(!ru.is_working_day(d("2026-01-09")));
        assert!(!ru.is_working_day(d("2026-03-09")), "8 March on a Sunday");
        let kz = Calendar::of(CalendarId::Kz);
        assert!(ru.is_working_day(d("2026-03-23")));
        assert!(!kz.is_working_day(d("2026-03-23")), "Nauryz");
        assert!(kz.is_working_day(d("2025-01-05")), "a working Sunday");
        assert!(!kz.is_working_day(d("2026-05-27")), "Kurban ait");
        // Friday 22 May 2026 + 5 working days, Kurban ait on Wednesday 27.
        assert_eq!(kz.add_working_days(d("2026-05-22"), 5), d("2026-06-01"));
    }

    #[test]
    fn deadlines_skip_weekends_and_holidays() {
        let ru = Calendar::of(CalendarId::Ru);
        // Tuesday 30 Dec 2025 + 1 working day: 31 Dec is off, then the January
        // holidays: the first working day of 2026 is Monday 12 January.
        assert_eq!(ru.add_working_days(d("2025-12-30"), 1), d("2026-01-12"));
        // Thursday 19 Nov 2026 + 5 → Thursday 26 Nov.
        assert_eq!(ru.add_working_days(d("2026-11-19"), 5), d("2026-11-26"));
        assert_eq!(ru.working_days_between(d("2026-11-19"), d("2026-11-26")), 5);
        assert_eq!(ru.working_days_between(d("2026-11-26"), d("2026-11-19")), 0);
    }

    #[test]
    fn a_year_without_data_moves_weekend_holidays_by_the_rule() {
        let kz = Calendar::of(CalendarId::Kz);
        // 2027: 21 March is a Sunday, 22 and 23 are Monday and Tuesday
        // holidays, so Sunday's holiday moves to Wednesday 24 March.
        assert!(!kz.is_working_day(d("2027-03-22")));
        assert!(!kz.is_working_day(d("2027-03-24")));
        assert!(kz.is_working_day(d("2027-03-25")));
        // Christmas is never moved: 7 January 2029 is a Sunday, Monday works.
        assert!(kz.is_working_day(d("2029-01-08")));
        let ru = Calendar::of(CalendarId::Ru);
        // 2027: 9 May is a Sunday, so Monday 10 May is off; the January
        // holidays do not move by the rule.
        assert!(!ru.is_working_day(d("2027-05-10")));
        assert!(ru.is_working_day(d("2027-01-11")));
    }

    #[test]
    fn bad_data_is_refused() {
        let bad =
            "holidays = []\nno_transfer = []\n[year.2026]\noff = [\"2026-11-21\"]\nwork = []\n";
        assert!(Calendar::parse(bad).unwrap_err().contains("weekend"));
        let bad = "holidays = [\"02-30\"]\nno_transfer = []\n";
        assert!(Calendar::parse(bad).is_err());
    }
}
