#include <stdio.h>
int main(void)
{
    fprintf(stderr, "twin: no commands yet\n");
    return 2;
}
