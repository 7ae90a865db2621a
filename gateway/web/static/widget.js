// <order-status>: placeholder, being written.
const STRINGS = /*STRINGS*/{}/*END STRINGS*/;
