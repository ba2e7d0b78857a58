//! Money for model calls: exact prices, costs and budgets.
//!
//! Amounts are integer nanodollars (`i64`, 1e-9 USD); prices are nanodollars per million
//! tokens. The price book is versioned data shipped in the repository; budgets reserve
//! before a call and settle after it, atomically across a whole chain (shift → job).
//! Nothing here does I/O: the gateway loads budgets from the store and writes the ledger.

mod budget;
mod price;

pub use budget::{Ask, BudgetNode, BudgetView, Budgets, Refusal, Reservation};
pub use nightshift_spec::money::{NANOS_PER_USD, format_usd, parse_usd};
pub use price::{Price, PriceBook, PriceBookError, ResolvedPrice};
