/** A secret's name: an upper-case identifier, so it reads the same in `{{ secrets.NAME }}` and on the Settings page. */
export const SECRET_NAME_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;
export const SECRET_NAME_RULE = "1-64 characters A-Z, 0-9 and _, starting with a letter (^[A-Z][A-Z0-9_]{0,63}$), e.g. API_KEY";
