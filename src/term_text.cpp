// Placeholder until the text form lands.
#include <rot/term.hpp>
