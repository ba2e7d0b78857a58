mod golden;
mod translate;
